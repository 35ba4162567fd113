"""The one place where skae touches scikit-learn's private names.

scikit-learn's parameter validation helpers and ``validate_data`` are not part of
its public API; keeping every such import here means a scikit-learn release that
moves them is fixed in one file.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)
from sklearn.utils.validation import _check_sample_weight, validate_data

__all__ = [
    "HasMethods",
    "Interval",
    "StrOptions",
    "_check_sample_weight",
    "_fit_context",
    "validate_data",
    "validate_params",
]
