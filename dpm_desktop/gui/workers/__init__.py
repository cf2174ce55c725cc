"""Work that runs off the GUI thread: restorations and batches, bridged to Qt signals."""
