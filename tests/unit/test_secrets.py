"""Secret scanning, as `make lint` and the pre-commit hook run it: a credential planted in a file fails
it. (That the tracked tree passes against the committed baseline is `make lint`'s own check, which
`make test` runs first.)"""

import subprocess
import sys
from pathlib import Path

from runtime.paths import PROJECT_ROOT

HOOK = Path(sys.executable).with_name("detect-secrets-hook")
BASELINE = PROJECT_ROOT / ".secrets.baseline"


def _scan(files: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HOOK), "--baseline", str(BASELINE), *files],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_a_planted_credential_fails_the_scan(tmp_path: Path) -> None:
    leak = tmp_path / "settings.py"
    key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"  # pragma: allowlist secret
    leak.write_text(f'AWS_SECRET = "{key}"\npassword = "correct-horse-battery"\n')  # pragma: allowlist secret
    result = _scan([str(leak)])
    assert result.returncode != 0
    assert "Potential secrets" in result.stdout + result.stderr
