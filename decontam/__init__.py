"""8-gram decontamination of training data against eval sets."""
