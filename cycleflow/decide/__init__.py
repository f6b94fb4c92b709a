"""decide stage of the cycleflow data flow."""
