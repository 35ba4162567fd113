"""skae: scikit-learn compatible autoencoders on Keras 3.

``import skae`` is cheap: TensorFlow and Keras are imported the first time a
model is built or used, and matplotlib the first time something is plotted.
"""

from . import datasets, exceptions, onnx, plotting
from ._autoencoder import AutoencoderTransformer
from ._compare import compare_reducers
from ._noise import add_noise
from ._outlier import AutoencoderOutlierDetector
from ._persistence import load, save
from ._variational import VariationalAutoencoderTransformer

__version__ = "0.1.0.dev0"

__all__ = [
    "AutoencoderOutlierDetector",
    "AutoencoderTransformer",
    "VariationalAutoencoderTransformer",
    "add_noise",
    "compare_reducers",
    "datasets",
    "exceptions",
    "load",
    "onnx",
    "plotting",
    "save",
]
