"""ovseg: open-vocabulary semantic segmentation research on PyTorch Lightning.

SegCLIP and S-Seg as LightningModules that share data modules and one evaluator. The public pieces
live in the subpackages: ``ovseg.evaluation`` (metric, protocols, inference), ``ovseg.data``
(benchmarks and their layouts), ``ovseg.methods`` (the segmenters), ``ovseg.cli`` (the ``ovseg``
command).
"""

__version__ = "0.1.0"
