import subprocess
import sys

import pytest

from dra.cli import STAGES, main


def test_help_lists_every_stage():
    r = subprocess.run([sys.executable, "-m", "dra", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for stage in ("synth", "prepare", "split", "train", "collect", "table", "plot", "cache", "bench"):
        assert stage in r.stdout


def test_every_stage_has_its_own_help():
    for stage in STAGES:
        r = subprocess.run([sys.executable, "-m", "dra", stage, "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and "usage: python -m dra " + stage in r.stdout, (stage, r.stderr[-500:])


def test_unknown_stage_and_dataset_are_clean_errors(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["nosuch"])
    assert e.value.code == 2 and "invalid choice: 'nosuch'" in capsys.readouterr().err
    assert main(["prepare", "nosuchset", "--raw", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "unknown dataset 'nosuchset'" in err and "mvtecad" in err
    assert not (tmp_path / "o").exists()
