"""Sphinx configuration for the skae documentation.

Build from the repository root with::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The build executes the gallery scripts in ``examples/`` and makes no network
access: intersphinx reads the inventories checked in under ``_inventories/``
(written by ``docs/inventories.py``).
"""

import os

import skae

# -- Project -------------------------------------------------------------------

project = "skae"
author = "skae developers"
copyright = "skae developers"
release = skae.__version__
version = ".".join(release.split(".")[:2])

# -- General -------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
default_role = "literal"

# -- autodoc / autosummary -----------------------------------------------------

autosummary_generate = True
# A module page lists the names in that module's __all__, nothing else.
autosummary_ignore_module_all = False
# What skae defines, inherited from its private bases included (fit,
# transform, score... live on skae._base.BaseAutoencoder): the class template
# (_templates/autosummary/class.rst) asks for inherited members. Methods
# scikit-learn defines (fit_transform, set_output, get_params, ...) are
# skipped by _skip_foreign_member, listed by name on each class page and
# documented by scikit-learn.
autodoc_default_options = {"members": True}
autosummary_inherited_members = True
autodoc_typehints = "none"


def _defining_module(obj):
    """The module that defines a class member: a method, property or slot."""
    if isinstance(obj, property):
        obj = obj.fget
    owner = getattr(obj, "__objclass__", None)  # builtins' descriptors
    if owner is not None:
        return owner.__module__
    return getattr(obj, "__module__", None) or ""


def _skip_foreign_member(app, what, name, obj, skip, options):
    """Skip class members that skae does not define, such as set_fit_request.

    scikit-learn creates the ``set_*_request`` methods on each subclass, so
    they are not "inherited" for autodoc, yet they are scikit-learn's code;
    ``args`` and ``with_traceback`` of an exception are Python's.
    """
    # autodoc passes the parent's type ("class"), autosummary the member's.
    if what in ("class", "exception", "method", "attribute", "property") and (
        callable(obj) or isinstance(obj, property) or hasattr(obj, "__objclass__")
    ):
        if not _defining_module(obj).startswith("skae"):
            return True
    return None


# -- intersphinx: links to other projects, with no network access ------------

_INVENTORIES = os.path.join(os.path.dirname(__file__), "_inventories")
intersphinx_mapping = {
    project: (address, os.path.join(_INVENTORIES, f"{project}.inv"))
    for project, address in {
        "sklearn": "https://scikit-learn.org/stable/",
        "numpy": "https://numpy.org/doc/stable/",
        "python": "https://docs.python.org/3/",
        "joblib": "https://joblib.readthedocs.io/en/stable/",
        "matplotlib": "https://matplotlib.org/stable/",
    }.items()
}

# -- numpydoc ------------------------------------------------------------------

# The class template lists the methods itself; numpydoc would list them again.
numpydoc_show_class_members = False
# Cross-referencing parameter types ("array-like", "bool") needs the numpy and
# python inventories from intersphinx, which this build does not load.
numpydoc_xref_param_type = False
# Report numpydoc's docstring validation of skae's public objects as build
# warnings (errors under -W): every check except
#   ES01 extended summary, SA01 "See Also", EX01 "Examples" -- not required on
#        every method in scikit-learn's style;
#   RT02 "first line of Returns should contain only the type" -- scikit-learn's
#        style names returned values ("self : object", "X_new : ndarray ...").
numpydoc_validation_checks = {"all", "ES01", "SA01", "EX01", "RT02"}
numpydoc_validation_overrides = {
    # SS05 flags a summary whose first word ends in "s" as third person;
    # "Minus the mean squared reconstruction error" is a noun phrase.
    "SS05": [r"^Minus "],
}

# -- HTML ----------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skae {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []

# -- sphinx-gallery ------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    # Execute the plot_*.py scripts; any other .py file in examples/ is shown
    # with its code but not run.
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    # A broken example fails the build.
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    # "Examples using skae.X" sections on the API pages.
    "doc_module": ("skae",),
    # Same folder as the autosummary pages, which include these files.
    "backreferences_dir": "gen_modules",
    "reference_url": {"skae": None},
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "show_memory": False,
    # The plotting functions return their figure; the figure is shown, its
    # repr ("<Figure size 640x480 with 1 Axes>") is not.
    "capture_repr": (),
}

# TensorFlow logs its C++ start-up messages on stderr while the examples run;
# they are not Sphinx warnings and do not fail the build, but keep them short.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# -- Keep api.rst in step with skae.__all__ --------------------------------------


def _check_api_page(app):
    """Warn (an error under -W) when api.rst and ``skae.__all__`` differ."""
    import re

    from sphinx.util import logging

    with open(os.path.join(app.srcdir, "api.rst"), encoding="utf-8") as f:
        text = f.read()
    # The entries of the autosummary directives: indented bare names.
    listed = set(re.findall(r"^ {3}(\w+)\s*$", text, flags=re.MULTILINE))
    public = set(skae.__all__)
    if listed != public:
        logging.getLogger(__name__).warning(
            "docs/api.rst lists %s but skae.__all__ is %s; missing: %s, extra: %s",
            sorted(listed),
            sorted(public),
            sorted(public - listed),
            sorted(listed - public),
            location="api",
        )


#: Methods every estimator's page must document (they live on the private
#: base class, which autodoc skips unless asked for inherited members).
_DOCUMENTED_METHODS = (
    "fit", "partial_fit", "transform", "inverse_transform", "score",
    "score_samples", "export",
)  # fmt: skip


def _check_built_pages(app, exception):
    """Warn (an error under -W) when the built site lost what users rely on.

    Each estimator's page documents its methods, and intersphinx links
    scikit-learn's names out to scikit-learn's site.
    """
    from sphinx.util import logging

    if exception is not None or app.builder.format != "html":
        return
    log = logging.getLogger(__name__)
    out = app.outdir
    for name in ("AutoencoderTransformer", "VariationalAutoencoderTransformer",
                 "AutoencoderOutlierDetector"):  # fmt: skip
        path = os.path.join(out, "gen_modules", f"skae.{name}.html")
        with open(path, encoding="utf-8") as f:
            html = f.read()
        missing = [
            m for m in _DOCUMENTED_METHODS if f'id="skae.{name}.{m}"' not in html
        ]
        if missing:
            log.warning("%s's page documents no %s", name, ", ".join(missing))
    with open(os.path.join(out, "getting_started.html"), encoding="utf-8") as f:
        html = f.read()
    if (
        "https://scikit-learn.org/stable/modules/generated/sklearn.decomposition.PCA"
        not in html
    ):
        log.warning("getting_started.html does not link PCA to scikit-learn's site")


def setup(app):
    app.connect("builder-inited", _check_api_page)
    app.connect("autodoc-skip-member", _skip_foreign_member)
    app.connect("build-finished", _check_built_pages)
