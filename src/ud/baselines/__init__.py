"""Baselines the paper compares against (§4.1). Each writes the same metrics schema as `evaluate`.

In this package: the teacher (the sampling estimator itself on the test questions) and prompting
(the base model asked for a verbal confidence, Appendix E.1). Lexical, P(True), P(IK) and semantic
clustering plug in here as further modules with a `run(...) -> (metrics, reliability)` function.
"""
