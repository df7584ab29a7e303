"""Dropout (textbook ch. 6): each element kept with probability 1 - dropout_ratio in training."""

from symgrad.spec import layer

SPEC = layer(
    "Dropout",
    "y[...] = x[...] * mask[...]",
    constants={"dropout_ratio": 0.5},
    draws={"mask": "np.random.rand(*x.shape) > dropout_ratio"},
    eval_text="y[...] = x[...] * (1 - dropout_ratio)",
    doc=(
        "Dropout as the book's: a fresh random mask of kept elements in training, the output "
        "scaled by 1 - dropout_ratio in evaluation (not inverted dropout)."
    ),
)
