"""``bench meta``: how far each metric's verdicts can be trusted on this data, measured.

Psychometric reliabilities (Tomsett et al., AAAI 2020) and MetaQuantus's noise resilience and
adversary reactivity (Hedstrom et al., TMLR 2023), with 95 % bootstrap intervals over images
(:mod:`.table`), graded per metric (:mod:`.grades`); the sources (:mod:`.sources`), the
perturbed models (:mod:`.perturb`), the driver (:mod:`.run`), meta.md (:mod:`.report`) and the
figure (:mod:`.figures`). Importing the package imports none of them: the command line
reads its defaults from :mod:`.settings` without loading pandas.
"""
