"""What every layer of the suite shares: the thesis's facts (:mod:`common.thesis`), safe
file writes and the cache (:mod:`common.files`), the input-error type
(:mod:`common.errors`) and progress bars (:mod:`common.progress`).

Nothing here imports TensorFlow, and importing it has no side effects.
"""
