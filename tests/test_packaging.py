"""A built wheel, installed outside the source tree, runs the smoke job from another directory:
configs and data ship inside the package, nothing is found relative to a checkout."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def sh(*cmd, cwd=None):
    result = subprocess.run(cmd, check=False, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_wheel_runs_the_smoke_job_from_any_directory(tmp_path):
    wheels = tmp_path / "wheels"
    sh(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(wheels),
        str(REPO),
    )
    # the dependencies come from this environment; the package itself only from the wheel
    sh(sys.executable, "-m", "venv", "--system-site-packages", str(tmp_path / "venv"))
    python = str(tmp_path / "venv" / "bin" / "python")
    sh(python, "-m", "pip", "install", "-q", "--no-deps", *map(str, wheels.glob("*.whl")))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = sh(python, "-c", "import piebench; print(piebench.__file__)", cwd=elsewhere)
    assert str(tmp_path / "venv") in where, where
    out = sh(
        python,
        "-m",
        "piebench",
        "run",
        "model=tiny",
        "method=ddim",
        "method.steps=2",
        "data.limit=1",
        "evaluate=false",
        "progress=false",
        "output_dir=out",
        cwd=elsewhere,
    )
    assert "1 edited" in out
    assert len(list((elsewhere / "out" / "ddim" / "annotation_images").rglob("*.jpg"))) == 1
    table = sh(
        python,
        "-c",
        "from piebench.resources import paper_table; "
        "print(paper_table().read_text().splitlines()[0])",
        cwd=elsewhere,
    )
    assert table.startswith("key,inversion,editing")
