"""Write the intersphinx inventories the docs link out with, for offline builds.

CI builds the docs with no internet, so intersphinx cannot download
scikit-learn's, NumPy's or Python's ``objects.inv``. This script writes small
ones into ``docs/_inventories/``, which are checked in: scikit-learn's from
the installed package (every public class and function of every public module,
at the address scheme of scikit-learn's documentation), and a few names of the
other projects skae's docs refer to. Run it after a docstring starts to refer
to a name of another project that is not listed here::

    python docs/inventories.py

Then the build links ``:class:`~sklearn.decomposition.PCA``` to scikit-learn's
page; a name no inventory holds stays plain code, as before.
"""

import importlib
import inspect
import pkgutil
import zlib
from pathlib import Path

OUT = Path(__file__).with_name("_inventories")

#: Names outside scikit-learn that skae's docs refer to: project -> (base
#: address, version, {name: (role, address relative to the base)}).
OTHERS = {
    "numpy": (
        "https://numpy.org/doc/stable/",
        "2",
        {
            "numpy.ndarray": ("class", "reference/generated/numpy.ndarray.html#$"),
            "numpy.memmap": ("class", "reference/generated/numpy.memmap.html#$"),
            "numpy.dtype": ("class", "reference/generated/numpy.dtype.html#$"),
            "numpy.random.Generator": (
                "class", "reference/random/generator.html#$",
            ),
            "numpy.random.RandomState": (
                "class", "reference/random/legacy.html#$",
            ),
        },
    ),
    "python": (
        "https://docs.python.org/3/",
        "3",
        {
            "pickle": ("module", "library/pickle.html#module-$"),
            "warnings": ("module", "library/warnings.html#module-$"),
            "KeyboardInterrupt": ("exception", "library/exceptions.html#$"),
        },
    ),
    "joblib": (
        "https://joblib.readthedocs.io/en/stable/",
        "1",
        {
            "joblib.dump": ("function", "generated/joblib.dump.html#$"),
            "joblib.load": ("function", "generated/joblib.load.html#$"),
        },
    ),
    "matplotlib": (
        "https://matplotlib.org/stable/",
        "3",
        {"matplotlib.pyplot": ("module", "api/pyplot_summary.html#module-$")},
    ),
}  # fmt: skip


def sklearn_entries():
    """``{name: (role, address)}`` of scikit-learn's public API."""
    import sklearn

    entries = {}
    names = [m.name for m in pkgutil.iter_modules(sklearn.__path__)]
    modules = ["sklearn"] + [f"sklearn.{n}" for n in names if not n.startswith("_")]
    modules += ["sklearn.utils.estimator_checks", "sklearn.utils.validation"]
    for module_name in sorted(set(modules)):
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # an optional dependency, or a test module
            continue
        if module_name.count(".") == 1 or module_name == "sklearn":
            entries[module_name] = ("module", f"api/{module_name}.html#module-$")
        for name in getattr(module, "__all__", []):
            try:
                obj = getattr(module, name, None)
            except ImportError:  # experimental: needs sklearn.experimental
                continue
            if inspect.isclass(obj):
                role = "exception" if issubclass(obj, BaseException) else "class"
            elif inspect.isfunction(obj):
                role = "function"
            else:
                continue
            full = f"{module_name}.{name}"
            entries[full] = (role, f"modules/generated/{full}.html#$")
    return entries


def write(project, version, entries):
    """Write ``_inventories/<project>.inv`` in Sphinx's inventory format 2."""
    lines = [
        f"{name} py:{role} 1 {address} -\n"
        for name, (role, address) in sorted(entries.items())
    ]
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{project}.inv"
    path.write_bytes(header.encode() + zlib.compress("".join(lines).encode()))
    print(f"{path}: {len(lines)} names")


def main():
    import sklearn

    write("sklearn", sklearn.__version__, sklearn_entries())
    for project, (_, version, entries) in OTHERS.items():
        write(project, version, entries)


if __name__ == "__main__":
    main()
