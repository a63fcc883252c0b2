"""`python -m dra`: the command as a process once (its entry point, without torch), every stage's help
and the clean errors in process (main)."""

import subprocess
import sys

import pytest

from dra.cli import STAGES, main


def test_help_lists_every_stage_and_imports_no_torch():
    code = ("import runpy, sys\nsys.argv = ['dra', '--help']\ntry:\n    runpy.run_module('dra', run_name='__main__')\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\nassert 'torch' not in sys.modules\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-1500:]
    for stage in ("synth", "prepare", "split", "train", "collect", "table", "plot", "cache", "bench"):
        assert stage in r.stdout


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_has_its_own_help(stage, capsys):
    with pytest.raises(SystemExit) as e:
        main([stage, "--help"])
    assert e.value.code == 0 and "usage: python -m dra " + stage in capsys.readouterr().out


def test_unknown_stage_and_dataset_are_clean_errors(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["nosuch"])
    assert e.value.code == 2 and "invalid choice: 'nosuch'" in capsys.readouterr().err
    assert main(["prepare", "nosuchset", "--raw", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "unknown dataset 'nosuchset'" in err and "mvtecad" in err
    assert not (tmp_path / "o").exists()
