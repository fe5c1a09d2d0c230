"""From paper to readings: load pages, identify and register them, read every field (marks, digits, handwriting), write them through the store."""
