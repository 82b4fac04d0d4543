"""Analysis of run folders from either backend: the paper's figures and tables, with seeds, CIs,
paired tests and steps-to-target. Command line: `python -m analysis --help`."""

from .figures import accuracy_vs_step, figure1, grad_norm_distributions, save, sigma_vs_step, variance_ablation
from .reader import (GRAD_NORM, PAPER_EXPLODE, PAPER_VANISH, RAW_SCORE, Run, final_val_acc, gradient_event_table,
                     gradient_events, load_run, load_runs, method_name, metric, pick_pair, read_metrics, run_summaries, tidy,
                     val_column, val_curve)
from .report import build_report, experiment_table, experiments_of, load_reference, main
from .stats import mean_ci, mean_curve, paired_test, smooth, steps_to_target
from .tables import EXPERIMENTS, comparison_table, group_columns, to_latex, to_markdown, write_table
