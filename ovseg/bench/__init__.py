"""The side-by-side benchmark behind ``make bench`` (``benchmarks/bench.py``).

program.py          the command line: picks the mode, checks inputs first, owns the run folder
synthetic_mode.py   train each tiny recipe (method_run.py, a process per method) and score it
real_mode.py        score checkpoints on real datasets (checkpoint_run.py, a process per method)
inputs.py           real mode's dataset and checkpoint checks
results.py          a method's result.json → its report entry;  budget.py: budgets and differences
report.py           terminal tables, report.md, report.json
pictures.py         which pictures a report gets;  figures.py: how each is drawn
predictions.py      the evaluation images a run keeps for the picture;  chance.py: chance levels
oracle_levels.py    the oracle rows beside the methods (synthetic mode);  hue_oracle.py: naming by colour
jobs.py             the chains of processes;  self_training.py: S-Seg+'s steps
ground_truth_oracle.py  S-Seg+'s recipe on the true masks, the ground-truth oracle's steps
naming.py           naming without background, recognition AUC
diagnostic_tables.py  the confidence ceiling and naming tables
"""
