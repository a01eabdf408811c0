"""Finding a project's sections: every module in sections/ with a valid spec, its template and readable inputs."""

from __future__ import annotations

import sys

from generator.engine.config import Project
from generator.engine.inputs import input_problem
from generator.engine.section import DiscoveryError, SectionModule, discover


def load_sections(project: Project) -> list[SectionModule]:
    """Discover the project's sections, with the project root importable (sections may import its modules)."""
    if str(project.root) not in sys.path:
        sys.path.insert(0, str(project.root))
    modules = discover(project.sections_dir, project.templates_dir, list(project.backends))
    for module in modules:
        for name, value in module.spec.inputs.items():
            for path in value.values() if isinstance(value, dict) else [value]:
                problem = input_problem(path, project.root, project.input_schemes)
                if problem:
                    raise DiscoveryError(f"{project.sections_dir.name}/{module.path.name}: inputs.{name}: {problem}")
    return modules
