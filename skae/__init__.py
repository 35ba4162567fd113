"""skae: scikit-learn compatible autoencoders on Keras 3.

``import skae`` is cheap: TensorFlow and Keras are imported the first time a
model is built or used, not here.
"""

from ._autoencoder import AutoencoderTransformer

__version__ = "0.1.0.dev0"

__all__ = ["AutoencoderTransformer"]
