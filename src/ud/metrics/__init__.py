"""Scoring every method the same way.

    scores  one metrics function for every method's answer records: AUROC (binned and raw), accuracy, high-acc,
            high-%, ECE, Brier, reliability rows, cost
    report  the side-by-side table and reliability figure for people
"""
