r"""Seed question 4: SimCLR — augmentations T (:mod:`.augment`), encoder f and head g
(:mod:`.model`), the NT-Xent loss with gathered negatives (:mod:`.losses`), and the probes
that measure the representation h with g discarded (:mod:`.probes`)."""
