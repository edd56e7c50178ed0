# Unit tests of the delivery component (rtml_decision).
