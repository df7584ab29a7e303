"""SoftmaxWithLoss (textbook ch. 5): cross-entropy of softmax(x) against t, mean over the batch."""

from sympy import IndexedBase, Sum, exp, log

from symgrad.spec import j, k, loss, n

x, t = IndexedBase("x"), IndexedBase("t")

SPEC = loss(
    "SoftmaxWithLoss",
    -Sum(t[k] * log(exp(x[k]) / Sum(exp(x[j]), (j, 0, n - 1))), (k, 0, n - 1)),
    x,
    t,
    targets_sum_to_one=True,
    doc="Softmax followed by cross-entropy, averaged over the batch; t one-hot rows or labels.",
)
