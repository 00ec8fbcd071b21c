//! Hugging Face rows as JSON objects, from JSON lines, Parquet and Arrow IPC.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, ensure, Context as _, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use serde_json::{Map, Number, Value};

use crate::tasks::item::RowRef;

type Records = Vec<(RowRef, Value)>;

/// One JSON object per line; a line that is not JSON is kept as a string so the row reader reports it.
pub fn read_jsonl(file: &Arc<Path>) -> Result<Records> {
    let text = read_text(file)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = RowRef::line(file, i + 1);
        let value =
            serde_json::from_str(line).unwrap_or_else(|e| Value::String(format!("not JSON ({e})")));
        out.push((at, value));
    }
    if out.is_empty() {
        bail!("{}: empty file (no task rows)", file.display());
    }
    Ok(out)
}

pub fn read_json_array(file: &Arc<Path>) -> Result<Records> {
    let text = read_text(file)?;
    let value: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a JSON array of rows", file.display()))?;
    let Value::Array(rows) = value else {
        bail!("{}: not a JSON array of rows", file.display());
    };
    if rows.is_empty() {
        bail!("{}: empty JSON array (no task rows)", file.display());
    }
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, v)| (RowRef::row(file, i + 1), v))
        .collect())
}

/// Parquet. The column chunks the footer lists are checked against the file first: the reader
/// panics on a negative offset or size.
pub fn read_parquet(file: &Arc<Path>) -> Result<Records> {
    let f = fs::File::open(file).with_context(|| format!("{}: cannot open", file.display()))?;
    let unreadable = || format!("{}: unreadable Parquet", file.display());
    let file_len = f.metadata().with_context(unreadable)?.len() as i128;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .with_context(unreadable)?;
    for column in builder
        .metadata()
        .row_groups()
        .iter()
        .flat_map(|g| g.columns())
    {
        let start = column
            .dictionary_page_offset()
            .unwrap_or(column.data_page_offset());
        let len = column.compressed_size();
        ensure!(
            start >= 0 && len >= 0 && start as i128 + len as i128 <= file_len,
            "{}: a column chunk the footer lists lies outside the file",
            file.display()
        );
    }
    let reader = builder.build().with_context(unreadable)?;
    let mut batches = Vec::new();
    for batch in reader {
        batches.push(batch.with_context(|| format!("{}: unreadable Parquet", file.display()))?);
    }
    batches_to_records(file, &batches)
}

/// Arrow IPC: the stream format (`datasets` writes it) or the file format. The lengths its
/// messages claim are checked against the file first: Arrow's reader allocates what they say.
pub fn read_arrow(file: &Arc<Path>, file_format: bool) -> Result<Records> {
    let bytes = fs::read(file).with_context(|| format!("{}: cannot read", file.display()))?;
    let unreadable = || format!("{}: unreadable Arrow IPC data", file.display());
    check_ipc_lengths(&bytes, file_format).with_context(unreadable)?;
    let mut batches = Vec::new();
    let input = std::io::Cursor::new(bytes);
    if file_format {
        let reader =
            arrow_ipc::reader::FileReader::try_new(input, None).with_context(unreadable)?;
        for b in reader {
            batches.push(b.with_context(unreadable)?);
        }
    } else {
        let reader =
            arrow_ipc::reader::StreamReader::try_new(input, None).with_context(unreadable)?;
        for b in reader {
            batches.push(b.with_context(unreadable)?);
        }
    }
    batches_to_records(file, &batches)
}

/// Every IPC message's metadata and body, and (file format) every block the footer lists, lie
/// inside the file.
fn check_ipc_lengths(bytes: &[u8], file_format: bool) -> Result<()> {
    const MAGIC: &[u8] = b"ARROW1";
    let start = if file_format { 8 } else { 0 };
    let end = if file_format {
        ensure!(
            bytes.len() >= 16 && bytes.ends_with(MAGIC),
            "no Arrow file footer"
        );
        let footer_len = i32::from_le_bytes(bytes[bytes.len() - 10..bytes.len() - 6].try_into()?);
        let footer_end = bytes.len() - 10;
        let footer_start = usize::try_from(footer_len)
            .ok()
            .and_then(|l| footer_end.checked_sub(l))
            .filter(|&s| s >= start)
            .context("footer length outside the file")?;
        let footer = arrow_ipc::root_as_footer(&bytes[footer_start..footer_end])
            .map_err(|e| anyhow::anyhow!("malformed footer: {e}"))?;
        let blocks = footer
            .recordBatches()
            .into_iter()
            .chain(footer.dictionaries());
        for block in blocks.flatten() {
            let len = block.metaDataLength() as i128 + block.bodyLength() as i128;
            let (offset, meta, body) = (block.offset(), block.metaDataLength(), block.bodyLength());
            ensure!(
                offset >= 0
                    && meta >= 0
                    && body >= 0
                    && offset as i128 + len <= footer_start as i128,
                "a block the footer lists lies outside the file"
            );
        }
        footer_start
    } else {
        bytes.len()
    };
    let mut at = start;
    while at + 4 <= end {
        let mut len = u32::from_le_bytes(bytes[at..at + 4].try_into()?);
        at += 4;
        if len == u32::MAX {
            ensure!(at + 4 <= end, "truncated message");
            len = u32::from_le_bytes(bytes[at..at + 4].try_into()?);
            at += 4;
        }
        if len == 0 {
            break;
        }
        let meta_end = at
            .checked_add(len as usize)
            .filter(|&e| e <= end)
            .context("message metadata past the end of the file")?;
        let message = arrow_ipc::root_as_message(&bytes[at..meta_end])
            .map_err(|e| anyhow::anyhow!("malformed message: {e}"))?;
        let body = usize::try_from(message.bodyLength()).context("negative message body length")?;
        at = meta_end
            .checked_add(body)
            .filter(|&e| e <= end)
            .context("message body past the end of the file")?;
    }
    Ok(())
}

fn batches_to_records(file: &Arc<Path>, batches: &[RecordBatch]) -> Result<Records> {
    let mut out = Vec::new();
    for batch in batches {
        for i in 0..batch.num_rows() {
            let value = record_to_json(batch, i)
                .with_context(|| format!("{}: row {}", file.display(), out.len() + 1))?;
            out.push((RowRef::row(file, out.len() + 1), value));
        }
    }
    if out.is_empty() {
        bail!("{}: no rows (empty table)", file.display());
    }
    Ok(out)
}

/// Row `i` of a record batch as a JSON object (column name → value).
pub fn record_to_json(batch: &RecordBatch, i: usize) -> Result<Value> {
    let schema = batch.schema();
    let mut obj = Map::new();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let v = array_value(column.as_ref(), i)
            .with_context(|| format!("column `{}`", field.name()))?;
        obj.insert(field.name().clone(), v);
    }
    Ok(Value::Object(obj))
}

fn array_value(array: &dyn Array, i: usize) -> Result<Value> {
    if array.is_null(i) {
        return Ok(Value::Null);
    }
    let int = |v: i64| Value::Number(v.into());
    Ok(match array.data_type() {
        DataType::Null => Value::Null,
        DataType::Boolean => Value::Bool(array.as_boolean().value(i)),
        DataType::Int8 => int(array.as_primitive::<Int8Type>().value(i) as i64),
        DataType::Int16 => int(array.as_primitive::<Int16Type>().value(i) as i64),
        DataType::Int32 => int(array.as_primitive::<Int32Type>().value(i) as i64),
        DataType::Int64 => int(array.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => int(array.as_primitive::<UInt8Type>().value(i) as i64),
        DataType::UInt16 => int(array.as_primitive::<UInt16Type>().value(i) as i64),
        DataType::UInt32 => int(array.as_primitive::<UInt32Type>().value(i) as i64),
        DataType::UInt64 => Value::Number(array.as_primitive::<UInt64Type>().value(i).into()),
        DataType::Float32 => float(array.as_primitive::<Float32Type>().value(i) as f64),
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Value::String(array.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => Value::String(array.as_string_view().value(i).to_string()),
        DataType::List(_) => list(array.as_list::<i32>().value(i).as_ref())?,
        DataType::LargeList(_) => list(array.as_list::<i64>().value(i).as_ref())?,
        DataType::FixedSizeList(_, _) => list(array.as_fixed_size_list().value(i).as_ref())?,
        DataType::Struct(fields) => {
            let s = array.as_struct();
            let mut obj = Map::new();
            for (f, col) in fields.iter().zip(s.columns()) {
                obj.insert(f.name().clone(), array_value(col.as_ref(), i)?);
            }
            Value::Object(obj)
        }
        DataType::Dictionary(_, _) => {
            let d = array.as_any_dictionary();
            let key = d.normalized_keys()[i];
            array_value(d.values().as_ref(), key)?
        }
        other => bail!("unsupported Arrow type {other}"),
    })
}

fn list(values: &dyn Array) -> Result<Value> {
    (0..values.len())
        .map(|j| array_value(values, j))
        .collect::<Result<Vec<_>>>()
        .map(Value::Array)
}

fn float(v: f64) -> Value {
    Number::from_f64(v)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

pub(super) fn read_text(file: &Path) -> Result<String> {
    let bytes = fs::read(file).with_context(|| format!("{}: cannot read", file.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not UTF-8 text (invalid byte at offset {})",
            file.display(),
            e.utf8_error().valid_up_to()
        )
    })
}
