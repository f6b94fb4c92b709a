"""load stage of the cycleflow data flow: policy text -> plain data tree with line marks."""

from cycleflow.load.source_map import SourceMap
from cycleflow.load.yaml_reader import Document, Limits, read_yaml_file, read_yaml_text

__all__ = ["Document", "Limits", "SourceMap", "read_yaml_file", "read_yaml_text"]
