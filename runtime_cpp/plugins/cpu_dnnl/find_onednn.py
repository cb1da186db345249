"""Print oneDNN's include and library folders, as installed by its PyPI wheels (for CMake).

`onednn-devel-cpu-gomp` puts the headers in <prefix>/include and `onednn-cpu-gomp` the library
in <prefix>/lib, where <prefix> is the environment the wheels went into (a build's isolated
environment too): ask the distributions where their files are rather than guess the prefix.
"""

from importlib import metadata
from pathlib import Path


def _folder_of(distribution: str, name: str, parent: str) -> str:
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        message = f"error: {distribution} is not installed: pip install {distribution}"
        raise SystemExit(message) from None
    for file in dist.files or []:
        # RECORD paths of data files are relative to site-packages ("../../../lib/x.so").
        path = Path(str(dist.locate_file(file))).resolve()
        if path.name == name and path.parent.name == parent:
            return str(path.parent)
    raise SystemExit(f"error: {distribution} has no {name}: pip install {distribution}")


print(_folder_of("onednn-devel-cpu-gomp", "dnnl.hpp", "include"))
print(_folder_of("onednn-cpu-gomp", "libdnnl.so.3", "lib"))
