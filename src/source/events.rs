//! A parse tree as a stream of events, without building it as JSON (issue 9: converting every
//! statement's tree to a `serde_json::Value` for the generic walks was about half of the
//! source stage's CPU on a cold run).
//!
//! pg_query's protobuf types derive `serde::Serialize`, so serializing a tree visits every node
//! with its field names: [`stream`] turns that visit into calls on a [`Sink`] (a struct or an
//! enum variant entered, a field entered, a scalar), with nothing allocated on the way. The two
//! generic readers of a whole tree are sinks: `refs::walk` (what a statement refers to,
//! recognising nodes by their type) and [`shape`] (the digest of a tree without positions that
//! `twice` compares).

use serde::ser::{self, Serialize};

/// One step down the tree: a struct field, a sequence element, or an enum variant (a oneof
/// such as `NodeEnum`, tagged by its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seg {
    Field(&'static str),
    Index(usize),
    Variant(&'static str),
}

/// A scalar value in the tree.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scalar<'a> {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(&'a str),
    Bytes(&'a [u8]),
    Char(char),
    /// `None`, `()` and unit structs.
    Unit,
}

/// What receives the events of [`stream`]. Every `enter` is matched by a `leave`, every
/// `struct_start` by a `struct_end`, every `seq_start` by a `seq_end`.
pub(crate) trait Sink {
    /// Whether to visit the struct field `key` at all (the shape leaves positions out).
    fn wants(&mut self, _key: &'static str) -> bool {
        true
    }
    fn enter(&mut self, seg: Seg);
    fn leave(&mut self);
    fn struct_start(&mut self, name: &'static str);
    fn struct_end(&mut self);
    fn seq_start(&mut self, len: usize);
    fn seq_end(&mut self);
    /// `Some(...)`: its value follows (an `Option` is otherwise transparent).
    fn some(&mut self) {}
    fn scalar(&mut self, value: Scalar);
}

/// Feeds `value`'s serialization to `sink`.
pub(crate) fn stream<T: Serialize + ?Sized, S: Sink>(value: &T, sink: &mut S) {
    // The stream never fails: every serde call is accepted.
    let _ = value.serialize(Events { sink });
}

/// The SHA-256 of a tree's events without its `location`, `stmt_location` and `stmt_len`
/// fields: equal for trees equal but for where they were written. Each event is written
/// self-delimiting (a tag byte, lengths before text), so different trees give different texts.
/// Field names are left out: a struct's fields always come in the same order, so the type
/// (given by the enclosing field, or by an enum variant's name, which is written) says which
/// field each value is.
pub(crate) fn shape<T: Serialize + ?Sized>(value: &T) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut sink = Shape(Vec::with_capacity(4096));
    stream(value, &mut sink);
    Sha256::digest(&sink.0).into()
}

struct Shape(Vec<u8>);

impl Shape {
    fn text(&mut self, tag: u8, text: &[u8]) {
        self.0.push(tag);
        self.len(text.len());
        self.0.extend_from_slice(text);
    }

    fn len(&mut self, len: usize) {
        match u32::try_from(len) {
            Ok(short) if short < u32::MAX => self.0.extend_from_slice(&short.to_le_bytes()),
            _ => {
                self.0.extend_from_slice(&u32::MAX.to_le_bytes());
                self.0.extend_from_slice(&(len as u64).to_le_bytes());
            }
        }
    }
}

impl Sink for Shape {
    fn wants(&mut self, key: &'static str) -> bool {
        !matches!(key, "location" | "stmt_location" | "stmt_len")
    }
    fn enter(&mut self, seg: Seg) {
        match seg {
            Seg::Variant(name) => self.text(b'v', name.as_bytes()),
            // Fields come in their struct's order, elements after their sequence's length.
            Seg::Field(_) | Seg::Index(_) => {}
        }
    }
    fn leave(&mut self) {}
    fn struct_start(&mut self, _name: &'static str) {
        self.0.push(b'{');
    }
    fn struct_end(&mut self) {
        self.0.push(b'}');
    }
    fn seq_start(&mut self, len: usize) {
        self.0.push(b'[');
        self.len(len);
    }
    fn seq_end(&mut self) {
        self.0.push(b']');
    }
    fn some(&mut self) {
        self.0.push(b'?');
    }
    fn scalar(&mut self, value: Scalar) {
        match value {
            Scalar::Bool(b) => self.0.extend_from_slice(&[b'b', b as u8]),
            Scalar::Int(i) => {
                self.0.push(b'i');
                self.0.extend_from_slice(&i.to_le_bytes());
            }
            Scalar::Uint(u) => {
                self.0.push(b'u');
                self.0.extend_from_slice(&u.to_le_bytes());
            }
            Scalar::Float(x) => {
                self.0.push(b'd');
                self.0.extend_from_slice(&x.to_bits().to_le_bytes());
            }
            Scalar::Str(s) => self.text(b's', s.as_bytes()),
            Scalar::Bytes(b) => self.text(b'y', b),
            Scalar::Char(c) => {
                self.0.push(b'c');
                self.0.extend_from_slice(&u32::from(c).to_le_bytes());
            }
            Scalar::Unit => self.0.push(b'n'),
        }
    }
}

/// Never raised: serde requires an error type.
#[derive(Debug)]
pub(crate) struct Never;

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("never")
    }
}

impl std::error::Error for Never {}

impl ser::Error for Never {
    fn custom<T: std::fmt::Display>(_msg: T) -> Self {
        Never
    }
}

struct Events<'s, S: Sink> {
    sink: &'s mut S,
}

/// A struct, sequence or map being serialized; `index` counts sequence elements.
struct Compound<'s, S: Sink> {
    sink: &'s mut S,
    index: usize,
    /// Entered a variant that must be left at the end.
    variant: bool,
}

impl<'s, S: Sink> Compound<'s, S> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.sink.enter(Seg::Index(self.index));
        self.index += 1;
        stream(value, self.sink);
        self.sink.leave();
        Ok(())
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Never> {
        if self.sink.wants(key) {
            self.sink.enter(Seg::Field(key));
            stream(value, self.sink);
            self.sink.leave();
        }
        Ok(())
    }

    fn end_struct(self) -> Result<(), Never> {
        self.sink.struct_end();
        if self.variant {
            self.sink.leave();
        }
        Ok(())
    }

    fn end_seq(self) -> Result<(), Never> {
        self.sink.seq_end();
        if self.variant {
            self.sink.leave();
        }
        Ok(())
    }
}

macro_rules! scalars {
    ($($method:ident($ty:ty) => $make:expr;)*) => {
        $(fn $method(self, v: $ty) -> Result<(), Never> {
            #[allow(clippy::redundant_closure_call)]
            self.sink.scalar(($make)(v));
            Ok(())
        })*
    };
}

impl<'s, S: Sink> ser::Serializer for Events<'s, S> {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = Compound<'s, S>;
    type SerializeTuple = Compound<'s, S>;
    type SerializeTupleStruct = Compound<'s, S>;
    type SerializeTupleVariant = Compound<'s, S>;
    type SerializeMap = Compound<'s, S>;
    type SerializeStruct = Compound<'s, S>;
    type SerializeStructVariant = Compound<'s, S>;

    scalars! {
        serialize_bool(bool) => Scalar::Bool;
        serialize_i8(i8) => |v| Scalar::Int(i64::from(v));
        serialize_i16(i16) => |v| Scalar::Int(i64::from(v));
        serialize_i32(i32) => |v| Scalar::Int(i64::from(v));
        serialize_i64(i64) => Scalar::Int;
        serialize_u8(u8) => |v| Scalar::Uint(u64::from(v));
        serialize_u16(u16) => |v| Scalar::Uint(u64::from(v));
        serialize_u32(u32) => |v| Scalar::Uint(u64::from(v));
        serialize_u64(u64) => Scalar::Uint;
        serialize_f32(f32) => |v| Scalar::Float(f64::from(v));
        serialize_f64(f64) => Scalar::Float;
        serialize_char(char) => Scalar::Char;
        serialize_str(&str) => Scalar::Str;
        serialize_bytes(&[u8]) => Scalar::Bytes;
    }

    fn serialize_none(self) -> Result<(), Never> {
        self.sink.scalar(Scalar::Unit);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Never> {
        self.sink.some();
        stream(value, self.sink);
        Ok(())
    }

    fn serialize_unit(self) -> Result<(), Never> {
        self.sink.scalar(Scalar::Unit);
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Never> {
        self.sink.scalar(Scalar::Unit);
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Never> {
        self.sink.scalar(Scalar::Str(variant));
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        stream(value, self.sink);
        Ok(())
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.sink.enter(Seg::Variant(variant));
        stream(value, self.sink);
        self.sink.leave();
        Ok(())
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'s, S>, Never> {
        self.sink.seq_start(len.unwrap_or(usize::MAX));
        Ok(Compound {
            sink: self.sink,
            index: 0,
            variant: false,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'s, S>, Never> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'s, S>, Never> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'s, S>, Never> {
        self.sink.enter(Seg::Variant(variant));
        self.sink.seq_start(len);
        Ok(Compound {
            sink: self.sink,
            index: 0,
            variant: true,
        })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'s, S>, Never> {
        // prost messages have no map fields here; a map reads as a sequence of keys and values.
        self.serialize_seq(len.map(|n| n * 2))
    }

    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Compound<'s, S>, Never> {
        self.sink.struct_start(name);
        Ok(Compound {
            sink: self.sink,
            index: 0,
            variant: false,
        })
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'s, S>, Never> {
        self.sink.enter(Seg::Variant(variant));
        self.sink.struct_start(name);
        Ok(Compound {
            sink: self.sink,
            index: 0,
            variant: true,
        })
    }
}

impl<S: Sink> ser::SerializeSeq for Compound<'_, S> {
    type Ok = ();
    type Error = Never;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.element(value)
    }
    fn end(self) -> Result<(), Never> {
        self.end_seq()
    }
}

impl<S: Sink> ser::SerializeTuple for Compound<'_, S> {
    type Ok = ();
    type Error = Never;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.element(value)
    }
    fn end(self) -> Result<(), Never> {
        self.end_seq()
    }
}

impl<S: Sink> ser::SerializeTupleStruct for Compound<'_, S> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.element(value)
    }
    fn end(self) -> Result<(), Never> {
        self.end_seq()
    }
}

impl<S: Sink> ser::SerializeTupleVariant for Compound<'_, S> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.element(value)
    }
    fn end(self) -> Result<(), Never> {
        self.end_seq()
    }
}

impl<S: Sink> ser::SerializeMap for Compound<'_, S> {
    type Ok = ();
    type Error = Never;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Never> {
        self.element(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.element(value)
    }
    fn end(self) -> Result<(), Never> {
        self.end_seq()
    }
}

impl<S: Sink> ser::SerializeStruct for Compound<'_, S> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Never> {
        self.end_struct()
    }
}

impl<S: Sink> ser::SerializeStructVariant for Compound<'_, S> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Never> {
        self.end_struct()
    }
}
