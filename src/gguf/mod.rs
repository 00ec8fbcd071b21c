//! Native GGUF: read (validating every length against the file), write, and summarise.
