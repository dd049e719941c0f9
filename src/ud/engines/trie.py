"""A token trie over allowed continuations, for constrained decoding and exact scoring.

Each continuation ends with a terminator token (EOS), so an option that is a prefix of another ("red" vs
"red wine") is still a distinct, reachable path.
"""

from __future__ import annotations

from collections.abc import Sequence


class TokenTrie:
    def __init__(self, sequences: Sequence[Sequence[int]], end_token: int):
        self.end_token = end_token
        self.root: dict = {}
        self.sequences = [list(s) + [end_token] for s in sequences]
        for i, seq in enumerate(self.sequences):
            node = self.root
            for t in seq:
                node = node.setdefault(t, {})
            node.setdefault(None, []).append(i)  # leaf: which sequences end here (duplicates share a leaf)

    def allowed(self, prefix: Sequence[int]) -> list[int]:
        """Tokens allowed after `prefix`; [end_token] once a full sequence has been produced or the walk
        left the trie (so generation always stops)."""
        node = self.root
        for t in prefix:
            if t not in node:
                return [self.end_token]
            node = node[t]
            if None in node:  # a complete path (it ended with end_token)
                return [self.end_token]
        return [t for t in node if t is not None]

    def match(self, tokens: Sequence[int]) -> int | None:
        """Index of the sequence that `tokens` spell (first among duplicates), or None."""
        node = self.root
        for t in tokens:
            if t not in node:
                return None
            node = node[t]
            if None in node:
                return node[None][0]
        return None

    def steps(self, i: int) -> list[tuple[int, list[int]]]:
        """For sequence i: (token, allowed tokens at that point) at each step, for exact probabilities."""
        node, out = self.root, []
        for t in self.sequences[i]:
            out.append((t, [k for k in node if k is not None]))
            node = node[t]
        return out
