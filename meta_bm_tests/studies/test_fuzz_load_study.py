"""Seeded, bounded fuzzing of study folders (issue 15): whatever a folder holds, ``load_study``
raises nothing but ``StudyError``, every problem names a file inside the folder, and the
fingerprint, discovery and validation never raise.

Valid synthetic folders (literature with and without a risk table, institutional) are copied and
mutated a few hundred times with ``random.Random(SEED)``: byte flips, truncations, inserted NUL and
control bytes, empty files, UTF-16/UTF-32, odd YAML (tags, aliases, deep nesting, duplicate keys),
wrong types and huge numbers in the manifest, odd file names, symlinks (loops, dangling, outside,
``/proc/self/mem``, ``/dev/zero``), FIFOs and folders in place of files, and odd CSV cells and
headers. Deterministic: the same cases on every run.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest
import yaml

from meta_bm.studies import StudyError, discover_studies, folder_fingerprint, load_study, validate_studies
from meta_bm_tests.byte_mutations import flip_bytes, truncate

SEED = 20261204
CASES = 300

WEIRD_VALUES = [
    10**20,
    -1,
    0,
    2**63,
    1_000_001,
    "22",
    True,
    None,
    [],
    {},
    [1, [2, [3]]],
    {"a": {"b": 1}},
    float("inf"),
    float("nan"),
    -0.0,
    1e308,
    "x" * 5000,
    "a\x00b",
    "\x1b[2J",
    "../../etc/passwd",
    "/etc/passwd",
    "C:\\x.csv",
    "x" * 300 + ".csv",
    "sub/../../x.csv",
    "~/x.csv",
    "\ud800",
    "evil\n",
    "",
    " ",
    "study.yaml",
    ".",
    "os_rr_clicks.csv",
]
MANIFEST_KEYS = [
    "study_id",
    "citation",
    "year",
    "doi",
    "source",
    "synthetic",
    "notes",
    "arms",
    "arms.0",
    "arms.0.arm_id",
    "arms.0.modality",
    "arms.0.resection_extent",
    "curves",
    "curves.0",
    "curves.0.curve_id",
    "curves.0.arm",
    "curves.0.clicks",
    "curves.0.risk_table",
    "curves.0.total_n",
    "curves.0.total_events",
    "curves.0.y_scale",
    "curves.0.published",
    "curves.0.published.median",
    "curves.0.published.median.value",
    "curves.0.published.events",
    "patients",
    "patients.file",
    "patients.time_unit",
    "colour",
]
ODD_YAML = [
    "year: !!int x\n",
    "year: !!float y\n",
    "synthetic: !!bool maybe\n",
    "notes: !!binary '%%%'\n",
    "notes: !!timestamp 2020-13-45\n",
    "notes: !!python/object/apply:os.system ['echo hacked']\n",
    "notes: !!set {a, b}\n",
    "notes: !!omap [a: 1, a: 2]\n",
    "year: 2021\n",
    "a: &a [*a]\n",
    "? [a, b]\n: c\n",
    "? {a: 1}\n: c\n",
    "\t- tab\n",
    "notes: 'unterminated\n",
    "%YAML 1.1\n---\n",
    "--- !!map\n",
    "...\n---\nother: doc\n",
    "notes: *undefined\n",
    "1: numeric key\n",
    "null: null key\n",
    "notes: " + "[" * 60 + "]" * 60 + "\n",
]


def _alias_bomb(levels: int) -> str:
    out = "x0: &x0 [a, a, a, a, a, a, a, a, a, a]\n"
    for i in range(1, levels):
        out += f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]\n"
    return out


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.is_symlink())


def _set_key(data: object, path: str, value: object) -> None:
    node = data
    *parents, last = path.split(".")
    for part in parents:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value


def _mutate(rng: random.Random, folder: Path, outside: Path) -> str:
    """Apply one random mutation to the folder; returns what it did (for the failure message)."""
    files = _files(folder)
    kind = rng.choice(
        [
            "flip",
            "flip",
            "truncate",
            "insert",
            "empty",
            "encode",
            "yaml_key",
            "yaml_key",
            "yaml_key",
            "yaml_text",
            "yaml_text",
            "deep",
            "bomb",
            "dup_line",
            "symlink",
            "special",
            "csv_cell",
            "csv_cell",
            "csv_header",
            "ragged",
            "delete",
        ]
    )
    if not files:
        return "nothing to mutate"
    target = rng.choice(files)
    manifest = folder / "study.yaml"
    if kind in ("yaml_key", "yaml_text", "deep", "bomb") and manifest not in files:
        return "manifest is no longer a regular file"  # (never read a FIFO or a link to /dev/zero here)
    if kind == "flip":
        return flip_bytes(rng, target)
    if kind == "truncate":
        return truncate(rng, target)
    if kind == "insert":
        data = target.read_bytes()
        at = rng.randrange(len(data) + 1)
        junk = bytes(
            rng.choice([0, 1, 7, 9, 10, 13, 27, 127, 0x85, 0xC3, 0xFF, 0xFE]) for _ in range(rng.randint(1, 6))
        )
        target.write_bytes(data[:at] + junk + data[at:])
        return f"insert {junk!r} into {target.name}"
    if kind == "empty":
        target.write_bytes(b"")
        return f"empty {target.name}"
    if kind == "encode":
        text = target.read_bytes().decode("utf-8", "replace")
        encoding = rng.choice(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1252"])
        target.write_bytes(text.encode(encoding, "replace"))
        return f"re-encode {target.name} as {encoding}"
    if kind == "yaml_key":
        try:
            data = yaml.safe_load(manifest.read_text())
        except Exception:
            return "manifest unreadable"
        key, value = rng.choice(MANIFEST_KEYS), rng.choice(WEIRD_VALUES)
        _set_key(data, key, value)
        try:
            manifest.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8", errors="surrogatepass")
        except Exception:
            return "unwritable"
        return f"manifest {key} = {value!r:.40}"
    if kind == "yaml_text":
        snippet = rng.choice(ODD_YAML)
        text = manifest.read_text(errors="replace")
        lines = text.splitlines(keepends=True)
        at = rng.randrange(len(lines) + 1)
        manifest.write_text("".join([*lines[:at], snippet, *lines[at:]]))
        return f"manifest gets {snippet!r}"
    if kind == "deep":
        depth = rng.choice([25, 200, 1200])
        manifest.write_text(manifest.read_text(errors="replace") + "notes: " + "[" * depth + "]" * depth + "\n")
        return f"nesting {depth} deep"
    if kind == "bomb":
        manifest.write_text(_alias_bomb(rng.choice([3, 6, 9])) + manifest.read_text(errors="replace"))
        return "alias bomb"
    if kind == "dup_line":
        lines = target.read_bytes().splitlines(keepends=True)
        if lines:
            i = rng.randrange(len(lines))
            lines.insert(i, lines[i])
        target.write_bytes(b"".join(lines))
        return f"duplicate a line of {target.name}"
    if kind == "symlink":
        link = rng.choice(["/proc/self/mem", "/dev/zero", "/dev/full", "loop", "nowhere.csv", str(outside), "/", "."])
        target.unlink()
        target.symlink_to(target.name if link == "loop" else link)
        return f"{target.name} -> {link}"
    if kind == "special":
        target.unlink()
        if rng.random() < 0.5:
            os.mkfifo(target)
            return f"{target.name} is a FIFO"
        target.mkdir()
        return f"{target.name} is a folder"
    if kind in ("csv_cell", "csv_header", "ragged"):
        csvs = [p for p in files if p.suffix == ".csv"]
        if not csvs:
            return "no csv"
        target = rng.choice(csvs)
        lines = target.read_text(errors="replace").splitlines()
        if not lines:
            return "empty csv"
        if kind == "csv_header":
            head = lines[0].split(",")
            choice = rng.random()
            if choice < 0.4:
                head.append(rng.choice(head).upper())
            elif choice < 0.7:
                head[rng.randrange(len(head))] = rng.choice(["", " ", "x" * 300, "OS_TIME", "patient_id", "\x00"])
            else:
                head = head[: rng.randrange(len(head) + 1)]
            lines[0] = ",".join(head)
            target.write_text("\n".join(lines) + "\n", errors="surrogatepass")
            return f"header of {target.name}: {lines[0]!r:.60}"
        i = rng.randrange(len(lines))
        cells = lines[i].split(",")
        if kind == "ragged":
            cells += ["1"] * rng.randint(1, 3) if rng.random() < 0.5 else []
            cells = cells if cells and rng.random() < 0.5 else cells[:1]
        else:
            cells[rng.randrange(len(cells))] = rng.choice(
                ["1e400", "nan", "-inf", "inf", "1e9", "-5", "2", "0.5", "", "abc", '"', "1,5", "99999999999999999999"]
            )
        lines[i] = ",".join(cells)
        target.write_text("\n".join(lines) + "\n")
        return f"{target.name} row {i + 1}: {lines[i]!r:.60}"
    if kind == "delete":
        target.unlink()
        return f"delete {target.name}"
    raise AssertionError(kind)


@pytest.fixture(scope="module")
def valid_folders(tmp_path_factory) -> list[Path]:
    from meta_bm.simulation.study_folders import ArmSpec, write_institutional_study, write_literature_study

    root = tmp_path_factory.mktemp("fuzz_base")
    return [
        write_literature_study(
            root,
            "lit_2020",
            [ArmSpec("rr", "Re-resection", "re_resection", 30, 14.0), ArmSpec("ns", "NS", "non_surgical", 25, 9.0)],
            percent=True,
            seed=1,
        ),
        write_literature_study(
            root,
            "notable_2021",
            [ArmSpec("srs", "SRS", "re_srs", 40, 11.0)],
            risk_table=False,
            total_events=True,
            seed=2,
        ),
        write_institutional_study(root, "inst_2022", [ArmSpec("rr", "RR", "re_resection", 15, 18.0)], seed=3),
    ]


def test_load_study_raises_only_study_errors_naming_files_in_the_folder(valid_folders, tmp_path):
    rng = random.Random(SEED)
    outside = tmp_path / "outside.csv"
    outside.write_text("0,1\n1,0.5\n2,0.2\n")
    kinds_seen: dict[str, int] = {"ok": 0, "rejected": 0}
    for case in range(CASES):
        base = rng.choice(valid_folders)
        root = tmp_path / f"case{case}"
        folder = root / base.name
        shutil.copytree(base, folder, symlinks=True)
        done = [_mutate(rng, folder, outside) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
        if rng.random() < 0.03:
            renamed = root / rng.choice(["Bad Name", "other_2020", "x" * 200])
            folder.rename(renamed)
            folder = renamed
            done.append(f"folder renamed to {folder.name[:20]}")
        label = f"case {case} ({base.name}): " + "; ".join(done)
        try:
            load_study(folder)
            kinds_seen["ok"] += 1
        except StudyError as exc:
            kinds_seen["rejected"] += 1
            assert exc.problems, label
            for problem in exc.problems:
                assert isinstance(problem, str), label
                assert problem.startswith(f"{folder}/"), f"{label}: problem names no file in the folder: {problem!r}"
                assert len(problem) < 2000, f"{label}: problem of {len(problem)} characters"
        except BaseException as exc:  # (anything else is the defect under test)
            pytest.fail(f"{label}: {type(exc).__name__} escaped: {exc}")
        assert len(folder_fingerprint(folder)) == 64, label
        assert folder.name in validate_studies(root) or not discover_studies(root).study_ids, label
        shutil.rmtree(root)
    # the mutations both keep some folders valid and break most of them
    assert kinds_seen["ok"] >= 10 and kinds_seen["rejected"] >= CASES // 2, kinds_seen
