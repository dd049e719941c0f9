"""The baselines the paper compares against (§4.1), one module each, all of one shape:

    fit(calibration data) -> a fitted object      (supervised methods only: lexical, P(IK), P(True)'s shots)
    score(fitted, ...)    -> one record per answer (the common record of ud.metrics.scores)

and the metrics of every method are computed by one function (ud.metrics.scores). `greedy` holds the base model's greedy
answer that lexical, P(True) and P(IK) build on; `teacher` is the sampling estimator itself.
"""
