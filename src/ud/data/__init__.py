"""Questions and how they are asked.

    sources  question sources (offline wheels, local JSONL, hub ids) in one schema, and the seeded splits
    prompts  the prompts and answer formats of Appendix E, and parsing what models write back
"""
