"""The portfolio stage: projects and their relations, conflicts, schedule and impact."""
