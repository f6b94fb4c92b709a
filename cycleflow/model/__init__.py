"""model stage of the cycleflow data flow."""
