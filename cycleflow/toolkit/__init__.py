"""toolkit stage of the cycleflow data flow."""
