"""The yearly implementation evaluation (monev): per-region dimension scores, the weighted index and its rank.

Scores are imported all or nothing (`ops.import_scores`); the index weighs them with the evaluation policy of
the cohort's program definition (`ProgramDefinition.evaluation`), so another guideline's weights are data.
"""
