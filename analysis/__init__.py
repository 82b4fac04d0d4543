"""Analysis of run folders from either backend: the paper's figures and tables, with seeds, CIs,
paired tests (Holm-corrected, with minimum detectable effects), the regime experiment's table and
headline figure, and steps-to-target. Command line: `python -m analysis --help`.

    import analysis
    runs = analysis.load_runs(analysis.default_runs_root())   # runs/tiny, else results/tiny/runs
    root, runs = analysis.notebook_runs()                     # the same, or $REDIT_RUNS; prints what it read
    table, by = analysis.experiment_table(runs, "main")
"""

from . import regime
from .figures import (accuracy_vs_step, arm_label, figure1, full_arm_label, grad_norm_distributions, save, sigma_vs_step,
                      variance_ablation)
from .reader import (GRAD_NORM, PAPER_EXPLODE, PAPER_VANISH, RAW_SCORE, Run, default_runs_root, event_pairs, final_val_acc,
                     gradient_event_table, gradient_events, load_run, load_runs, method_name, metric, notebook_runs, pick_pair,
                     primary_outcome, read_metrics, run_summaries, scale_aware_events, secondary_outcome, tidy,
                     val_column, val_curve)
from .report import build_report, experiment_table, experiments_of, export_runs, load_reference, main
from .stats import holm, mde, mean_ci, mean_curve, paired_summary, paired_test, slope_ci, smooth, steps_to_target
from .tables import (EXPERIMENTS, baseline_runs, comparison_table, group_columns, one_per_seed, to_latex, to_markdown, unique_runs,
                     write_table)
