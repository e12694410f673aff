"""cleanlab 2.9's public API for single-label classification, as drop-in modules:

    from cleanlab_lite.compat import filter, rank, count     # instead of: from cleanlab import ...
    issues = filter.find_label_issues(labels, pred_probs)     # cleanlab's defaults and results

Same names, arguments, defaults and return types as `cleanlab.filter`, `cleanlab.rank` and
`cleanlab.count`, computed by cleanlab_lite's engine with cleanlab's confident-joint argmax
(`cj_argmax="cleanlab"`), so the results are cleanlab's where cleanlab is deterministic.
Multi-label classification (`multi_label=True`) is not supported: it raises NotImplementedError.
The plain `cleanlab_lite` API keeps its own defaults (the adaptive flag count).
"""
