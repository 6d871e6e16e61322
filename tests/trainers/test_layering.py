"""trainers/ trains one GAN and knows nothing of Ray, MLflow or the orchestrator."""

from __future__ import annotations

import subprocess
import sys


def test_importing_every_trainer_module_pulls_in_no_orchestration() -> None:
    code = (
        "import sys, pkgutil, importlib, trainers\n"
        "for m in pkgutil.iter_modules(trainers.__path__):\n"
        "    if m.name != '__main__': importlib.import_module('trainers.' + m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in {'ray', 'mlflow', 'orchestrator'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
