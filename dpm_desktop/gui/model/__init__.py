"""Observable application state: QObjects and plain data, no widgets."""
