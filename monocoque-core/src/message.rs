//! Multipart messages.

use std::fmt;
use std::ops::Index;

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;

/// A multipart ZeroMQ message: an ordered list of frames.
///
/// Up to [`Message::INLINE_FRAMES`] frames live inline without a heap allocation, and frames are
/// [`Bytes`](bytes::Bytes), so cloning a message copies no payload. The conversions from borrowed data
/// (`&str`, `&[u8]`) copy it once; use `Bytes::from_static` or an owned `Vec<u8>`/`String` to
/// avoid that copy.
///
/// ```rust
/// use monocoque::Message;
///
/// let mut msg = Message::from("hello").with("world");
/// msg.push_front("routing-id");
/// assert_eq!(msg.len(), 3);
/// assert_eq!(msg.byte_len(), 10 + 5 + 5);
/// assert_eq!(msg.pop_front().as_deref(), Some(&b"routing-id"[..]));
/// assert_eq!(msg, Message::from(["hello", "world"]));
/// assert_eq!(format!("{msg:?}"), r#"Message["hello", "world"]"#);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Message(SmallVec<[Bytes; Self::INLINE_FRAMES]>);

impl Message {
    /// How many frames fit without a heap allocation. Three covers a ROUTER's view of a REQ
    /// message (routing id, empty delimiter, body), and keeps a message small enough (104 bytes)
    /// to be moved without a call to `memcpy`: a message is moved several times on its way
    /// through a socket, and at four frames those copies were a third of the work per message.
    pub const INLINE_FRAMES: usize = 3;

    /// An empty message with no frames.
    pub fn new() -> Self {
        Self(SmallVec::new())
    }

    /// A message with one frame.
    pub fn single(frame: impl Into<Bytes>) -> Self {
        let mut msg = Self::new();
        msg.push(frame);
        msg
    }

    /// Appends a frame.
    pub fn push(&mut self, frame: impl Into<Bytes>) {
        self.0.push(frame.into());
    }

    /// The message with `frame` appended, for building in one expression.
    #[must_use]
    pub fn with(mut self, frame: impl Into<Bytes>) -> Self {
        self.push(frame);
        self
    }

    /// Inserts a frame before the first one, as when prepending a routing envelope.
    pub fn push_front(&mut self, frame: impl Into<Bytes>) {
        self.0.insert(0, frame.into());
    }

    /// Removes and returns the first frame, as when stripping a routing envelope.
    pub fn pop_front(&mut self) -> Option<Bytes> {
        if self.0.is_empty() {
            None
        } else {
            Some(self.0.remove(0))
        }
    }

    /// Removes and returns the last frame.
    pub fn pop_back(&mut self) -> Option<Bytes> {
        self.0.pop()
    }

    /// The frames in order.
    pub fn frames(&self) -> &[Bytes] {
        &self.0
    }

    /// The number of frames.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the message has no frames.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An iterator over the frames.
    pub fn iter(&self) -> std::slice::Iter<'_, Bytes> {
        self.0.iter()
    }

    /// The first frame.
    pub fn first(&self) -> Option<&Bytes> {
        self.0.first()
    }

    /// The last frame.
    pub fn last(&self) -> Option<&Bytes> {
        self.0.last()
    }

    /// Frame `index` as text: `None` past the last frame, an error if it is not UTF-8.
    ///
    /// ```rust
    /// use monocoque::Message;
    /// let message = Message::from(vec!["topic", "payload"]);
    /// assert_eq!(message.frame_str(1), Some(Ok("payload")));
    /// assert_eq!(message.frame_str(2), None);
    /// assert!(Message::from(vec![0xffu8]).frame_str(0).unwrap().is_err());
    /// ```
    pub fn frame_str(&self, index: usize) -> Option<Result<&str, std::str::Utf8Error>> {
        self.0.get(index).map(|frame| std::str::from_utf8(frame))
    }

    /// The total payload size: the sum of the frame lengths.
    pub fn byte_len(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }

    /// The frames, by value, without copying.
    ///
    /// ```rust
    /// use monocoque::Message;
    /// let frames: Vec<_> = Message::from(["a", "b"]).into_frames().collect();
    /// assert_eq!(frames, ["a", "b"]);
    /// ```
    pub fn into_frames(self) -> IntoFrames {
        IntoFrames(self.0.into_iter())
    }

    /// Whether the frames have outgrown the inline storage (a test of the layout).
    #[cfg(test)]
    fn spilled(&self) -> bool {
        self.0.spilled()
    }
}

impl fmt::Debug for Message {
    /// Shows each frame as a quoted string when it is printable UTF-8 and as hex otherwise,
    /// cut after a few dozen bytes so that a large payload does not flood a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Message")?;
        f.debug_list()
            .entries(self.0.iter().map(FrameDebug))
            .finish()
    }
}

impl Index<usize> for Message {
    type Output = Bytes;

    fn index(&self, index: usize) -> &Bytes {
        &self.0[index]
    }
}

impl IntoIterator for Message {
    type Item = Bytes;
    type IntoIter = IntoFrames;

    fn into_iter(self) -> Self::IntoIter {
        self.into_frames()
    }
}

/// The frames of a message, by value: [`Message::into_frames`] and `for frame in message`.
///
/// ```rust
/// use monocoque::{IntoFrames, Message};
///
/// let mut frames: IntoFrames = Message::from("a").with("b").with("c").into_frames();
/// assert_eq!(frames.len(), 3);
/// assert_eq!(frames.next_back().as_deref(), Some(&b"c"[..]));
/// assert_eq!(frames.collect::<Vec<_>>(), ["a", "b"]);
/// ```
#[derive(Debug)]
pub struct IntoFrames(smallvec::IntoIter<[Bytes; Message::INLINE_FRAMES]>);

impl Iterator for IntoFrames {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        self.0.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for IntoFrames {
    fn next_back(&mut self) -> Option<Bytes> {
        self.0.next_back()
    }
}

impl ExactSizeIterator for IntoFrames {}

impl std::iter::FusedIterator for IntoFrames {}

impl<'a> IntoIterator for &'a Message {
    type Item = &'a Bytes;
    type IntoIter = std::slice::Iter<'a, Bytes>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T: Into<Bytes>> FromIterator<T> for Message {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self(iter.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Bytes>> Extend<T> for Message {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        self.0.extend(iter.into_iter().map(Into::into));
    }
}

impl From<Bytes> for Message {
    fn from(frame: Bytes) -> Self {
        Self::single(frame)
    }
}

impl From<BytesMut> for Message {
    fn from(frame: BytesMut) -> Self {
        Self::single(frame.freeze())
    }
}

impl From<Vec<u8>> for Message {
    fn from(frame: Vec<u8>) -> Self {
        Self::single(frame)
    }
}

impl From<String> for Message {
    fn from(frame: String) -> Self {
        Self::single(frame)
    }
}

/// Copies the string into a single frame.
impl From<&str> for Message {
    fn from(frame: &str) -> Self {
        Self::single(Bytes::copy_from_slice(frame.as_bytes()))
    }
}

/// Copies the bytes into a single frame. (A separate `From<&'static [u8]>` would overlap with
/// this impl; pass `Bytes::from_static` to [`Message::single`] to avoid the copy.)
impl From<&[u8]> for Message {
    fn from(frame: &[u8]) -> Self {
        Self::single(Bytes::copy_from_slice(frame))
    }
}

/// Copies the bytes into a single frame, so that `Message::from(b"abc")` works.
impl<const N: usize> From<&[u8; N]> for Message {
    fn from(frame: &[u8; N]) -> Self {
        Self::from(&frame[..])
    }
}

/// One frame per element.
impl<T: Into<Bytes>, const N: usize> From<[T; N]> for Message {
    fn from(frames: [T; N]) -> Self {
        frames.into_iter().collect()
    }
}

/// One frame per element; the vector's buffer is not reused.
impl From<Vec<Bytes>> for Message {
    fn from(frames: Vec<Bytes>) -> Self {
        Self(SmallVec::from_vec(frames))
    }
}

/// Each string becomes a frame (copied): `Message::from(vec!["topic", "payload"])`.
impl From<Vec<&str>> for Message {
    fn from(frames: Vec<&str>) -> Self {
        frames
            .into_iter()
            .map(|f| Bytes::copy_from_slice(f.as_bytes()))
            .collect()
    }
}

/// Each string becomes a frame, without copying.
impl From<Vec<String>> for Message {
    fn from(frames: Vec<String>) -> Self {
        frames.into_iter().collect()
    }
}

/// Each byte vector becomes a frame, without copying.
impl From<Vec<Vec<u8>>> for Message {
    fn from(frames: Vec<Vec<u8>>) -> Self {
        frames.into_iter().collect()
    }
}

/// Each slice becomes a frame (copied).
impl From<&[&[u8]]> for Message {
    fn from(frames: &[&[u8]]) -> Self {
        frames.iter().map(|f| Bytes::copy_from_slice(f)).collect()
    }
}

/// The frames, cheaply (each `Bytes` is a reference-counted handle).
impl From<&[Bytes]> for Message {
    fn from(frames: &[Bytes]) -> Self {
        frames.iter().cloned().collect()
    }
}

/// The frames of a message, as a vector.
impl From<Message> for Vec<Bytes> {
    fn from(message: Message) -> Self {
        message.into_frames().collect()
    }
}

/// How many bytes of a frame `Debug` shows.
const DEBUG_PREVIEW: usize = 32;

struct FrameDebug<'a>(&'a Bytes);

impl fmt::Debug for FrameDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frame = self.0;
        let shown = match printable(frame) {
            Some(text) => {
                let mut end = text.len().min(DEBUG_PREVIEW);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                write!(f, "{:?}", &text[..end])?;
                end
            }
            None => {
                let end = frame.len().min(DEBUG_PREVIEW);
                f.write_str("0x")?;
                for byte in &frame[..end] {
                    write!(f, "{byte:02x}")?;
                }
                end
            }
        };
        if shown < frame.len() {
            write!(f, "…(+{} bytes)", frame.len() - shown)?;
        }
        Ok(())
    }
}

/// The frame as text if it is UTF-8 without control characters other than common whitespace.
fn printable(frame: &[u8]) -> Option<&str> {
    std::str::from_utf8(frame).ok().filter(|text| {
        !text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_agree() {
        let expected = Message::single(Bytes::from_static(b"abc"));
        assert_eq!(Message::from("abc"), expected);
        assert_eq!(Message::from(String::from("abc")), expected);
        assert_eq!(Message::from(&b"abc"[..]), expected);
        assert_eq!(Message::from(b"abc"), expected);
        assert_eq!(Message::from(b"abc".to_vec()), expected);
        assert_eq!(Message::from(Bytes::from("abc")), expected);
        assert_eq!(Message::from(BytesMut::from("abc")), expected);
        assert_eq!(Message::from(vec![Bytes::from("abc")]), expected);
        assert_eq!(Message::from(["abc"]), expected);
        assert_eq!(["abc"].into_iter().collect::<Message>(), expected);
        assert_eq!(Message::new().with("abc"), expected);
    }

    #[test]
    fn empty() {
        let mut msg = Message::default();
        assert!(msg.is_empty());
        assert_eq!((msg.len(), msg.byte_len()), (0, 0));
        assert_eq!((msg.first(), msg.last()), (None, None));
        assert_eq!(msg.pop_front(), None);
        assert_eq!(msg.pop_back(), None);
        assert_eq!(msg, Message::new());
    }

    #[test]
    fn frames_keep_their_order() {
        let mut msg = Message::from(["b", "c"]);
        msg.push_front("a");
        msg.push("d");
        msg.extend(["e", "f"]);
        let frames: Vec<&[u8]> = msg.iter().map(|f| &f[..]).collect();
        assert_eq!(frames, [b"a", b"b", b"c", b"d", b"e", b"f"]);
        assert_eq!(&msg[0][..], b"a");
        assert_eq!(msg.first(), Some(&Bytes::from("a")));
        assert_eq!(msg.last(), Some(&Bytes::from("f")));
        assert_eq!(msg.frames().len(), 6);
        assert_eq!((&msg).into_iter().count(), 6);
        assert_eq!(msg.pop_front(), Some(Bytes::from("a")));
        assert_eq!(msg.pop_back(), Some(Bytes::from("f")));
        let rest: Vec<Bytes> = msg.into_iter().collect();
        assert_eq!(rest, ["b", "c", "d", "e"]);
    }

    #[test]
    fn three_frames_stay_inline() {
        let msg = Message::from(["id", "", "body"]);
        assert!(!msg.spilled());
        assert!(msg.with("fourth").spilled());
        assert!(size_of::<Message>() <= 104);
    }

    #[test]
    fn conversions_users_reach_for() {
        let expected = Message::from(["a", "b"]);
        assert_eq!(Message::from(vec!["a", "b"]), expected);
        assert_eq!(
            Message::from(vec!["a".to_owned(), "b".to_owned()]),
            expected
        );
        assert_eq!(Message::from(vec![b"a".to_vec(), b"b".to_vec()]), expected);
        assert_eq!(Message::from(&[&b"a"[..], &b"b"[..]][..]), expected);
        let frames = [Bytes::from("a"), Bytes::from("b")];
        assert_eq!(Message::from(&frames[..]), expected);
        assert_eq!(Vec::<Bytes>::from(expected), frames);
    }

    #[test]
    fn clone_shares_payload() {
        let msg = Message::from(vec![0u8; 1024]);
        let copy = msg.clone();
        assert_eq!(msg[0].as_ptr(), copy[0].as_ptr());
    }

    #[test]
    fn byte_len_sums_frames() {
        assert_eq!(Message::from(["", "ab", "cde"]).byte_len(), 5);
    }

    #[test]
    fn debug_shows_text_hex_and_truncation() {
        let msg = Message::from([&b"text"[..], b"", b"\x00\x01\xff", b"line\n"]);
        assert_eq!(
            format!("{msg:?}"),
            r#"Message["text", "", 0x0001ff, "line\n"]"#
        );

        let long = Message::from("x".repeat(40));
        assert_eq!(
            format!("{long:?}"),
            format!("Message[{:?}…(+8 bytes)]", "x".repeat(32))
        );

        let binary = Message::from(vec![0xabu8; 33]);
        assert_eq!(
            format!("{binary:?}"),
            format!("Message[0x{}…(+1 bytes)]", "ab".repeat(32))
        );

        // 31 ASCII bytes then a 3-byte character: the cut backs off to a character boundary.
        let text = format!("{}€", "a".repeat(31));
        let msg = Message::from(text.as_str());
        assert_eq!(
            format!("{msg:?}"),
            format!("Message[{:?}…(+3 bytes)]", "a".repeat(31))
        );
    }
}
