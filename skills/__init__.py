"""The skill library: skills as data (SKILL.md + params.json), routing, versions, evolution."""
