"""Drawing the model's samples: the one door every draw goes through.

    units       the engine: questions x sample indices cut into units (a chunk of questions x a block of indices),
                each committed to a cache as it finishes; top-up when n grows, adaptive N, resume after a kill
    estimators  what a unit draws: free samples, samples constrained to the options, or the exact option
                distribution (one prefill)
    draws       samples drawn at inference (semantic clustering's K, P(True)'s brainstorm) through the same cache
    ray_pool    units spread over Ray actors (local cores or a cluster)
    ray_llm     units sent to Ray Data's vLLM processor
"""
