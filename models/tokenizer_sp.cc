// tokenizer_sp.cc -- the library's SentencePiece tokenizers (tokenizer_sp.h):
// loading, encoding, the bytes of each piece, and the training options that
// make its tokenizers lossless. The library's one C++ file, behind a C
// interface; tokenizer_sp_none.c stands in for it in a build without
// SentencePiece.
#include "tokenizer_sp.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

struct dy_sp {
    sentencepiece::SentencePieceProcessor sp;
};

static int fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        std::vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

namespace {

// The training sentences: the lines of a text held in memory.
class Lines : public sentencepiece::SentenceIterator {
  public:
    Lines(const char *text, size_t n) : p_(text), end_(text + n) { Next(); }
    bool done() const override { return done_; }
    void Next() override
    {
        if (p_ >= end_) {
            done_ = true;
            return;
        }
        const char *nl = static_cast<const char *>(std::memchr(p_, '\n', (size_t)(end_ - p_)));
        const char *stop = nl ? nl : end_;
        line_.assign(p_, (size_t)(stop - p_));
        p_ = nl ? nl + 1 : end_;
    }
    const std::string &value() const override { return line_; }
    sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }

  private:
    const char *p_, *end_;
    std::string line_;
    bool done_ = false;
};

} // namespace

extern "C" int dy_sp_available(void) { return 1; }

extern "C" int dy_sp_train(const char *text, size_t n, int vocab, const char *type, uint8_t **model,
                         size_t *model_len, char *err, size_t cap)
{
    *model = nullptr, *model_len = 0;
    if (!type || (std::strcmp(type, "bpe") && std::strcmp(type, "unigram")))
        return fail(err, cap, "tokenizer type \"%s\": bpe or unigram", type ? type : "(null)");
    if (vocab < 1) return fail(err, cap, "vocabulary size %d", vocab);
    // Lossless: no normalisation, spaces kept as they are, every byte
    // representable (byte fallback), all characters kept. No BOS/EOS/PAD:
    // the model sees the text's own tokens and nothing else (id 0 is <unk>,
    // which byte fallback never produces). One thread, all sentences, a
    // fixed seed: the same text gives the same model.
    std::unordered_map<std::string, std::string> kw = {
        {"model_type", type},
        {"vocab_size", std::to_string(vocab)},
        {"normalization_rule_name", "identity"},
        {"add_dummy_prefix", "false"},
        {"remove_extra_whitespaces", "false"},
        {"byte_fallback", "true"},
        {"character_coverage", "1.0"},
        {"split_digits", "true"},
        {"allow_whitespace_only_pieces", "true"},
        {"max_sentence_length", "65536"},
        {"input_sentence_size", "0"},
        {"num_threads", "1"},
        {"bos_id", "-1"},
        {"eos_id", "-1"},
        {"pad_id", "-1"},
        {"unk_id", "0"},
        {"minloglevel", "2"},
    };
    sentencepiece::SetRandomGeneratorSeed(1);
    Lines lines(text, n);
    std::string proto;
    try {
        auto st = sentencepiece::SentencePieceTrainer::Train(kw, &lines, &proto);
        if (!st.ok()) return fail(err, cap, "SentencePiece training: %s", st.ToString().c_str());
    } catch (const std::exception &e) {
        return fail(err, cap, "SentencePiece training: %s", e.what());
    }
    uint8_t *buf = static_cast<uint8_t *>(std::malloc(proto.size() ? proto.size() : 1));
    if (!buf) return fail(err, cap, "out of memory for a %zu-byte tokenizer model", proto.size());
    std::memcpy(buf, proto.data(), proto.size());
    *model = buf, *model_len = proto.size();
    return 0;
}

extern "C" int dy_sp_load(const uint8_t *model, size_t len, const char *name, dy_sp **out, char *err, size_t cap)
{
    *out = nullptr;
    dy_sp *t = new (std::nothrow) dy_sp;
    if (!t) return fail(err, cap, "%s: out of memory", name);
    auto st = t->sp.LoadFromSerializedProto(std::string(reinterpret_cast<const char *>(model), len));
    if (!st.ok()) {
        delete t;
        return fail(err, cap, "%s: not a SentencePiece tokenizer model (%s)", name, st.ToString().c_str());
    }
    if (t->sp.GetPieceSize() < 1) {
        delete t;
        return fail(err, cap, "%s: a tokenizer model with no tokens", name);
    }
    *out = t;
    return 0;
}

extern "C" void dy_sp_free(dy_sp *t) { delete t; }

extern "C" int dy_sp_vocab(const dy_sp *t) { return t->sp.GetPieceSize(); }

static bool piece_text(const dy_sp *t, int id, std::string *s);

// The byte offset of the first difference of a and b (their common length
// when one is a prefix of the other).
static size_t first_difference(const std::string &a, const char *b, size_t n)
{
    size_t i = 0;
    while (i < a.size() && i < n && a[i] == b[i]) i++;
    return i;
}

extern "C" int dy_sp_encode(const dy_sp *t, const char *text, size_t n, int32_t **ids, size_t *count, char *err,
                          size_t cap)
{
    *ids = nullptr, *count = 0;
    std::vector<int32_t> all;
    std::vector<int> part;
    std::string back, piece;
    // chunks of whole lines (about 64 KiB): a line's tokens never reach past
    // its newline, and a chunk is checked by decoding it again
    size_t at = 0;
    try {
        while (at < n) {
            size_t end = at + 65536 < n ? at + 65536 : n;
            const char *nl = end < n ? static_cast<const char *>(std::memchr(text + end, '\n', n - end)) : nullptr;
            end = end < n ? (nl ? (size_t)(nl - text) + 1 : n) : n;
            absl::string_view chunk(text + at, end - at);
            auto st = t->sp.Encode(chunk, &part);
            if (!st.ok()) return fail(err, cap, "encoding: %s", st.ToString().c_str());
            back.clear();
            for (int id : part) {
                if (!piece_text(t, id, &piece)) return fail(err, cap, "encoding gave token %d, which has no text", id);
                back += piece;
            }
            if (back.size() != chunk.size() || std::memcmp(back.data(), chunk.data(), chunk.size())) {
                size_t d = at + first_difference(back, text + at, end - at);
                return fail(err, cap,
                            "the text does not survive encoding: it differs from its decoding at byte %zu "
                            "(invalid UTF-8, or U+2581, or a tokenizer that normalises)", d);
            }
            all.insert(all.end(), part.begin(), part.end());
            at = end;
        }
    } catch (const std::bad_alloc &) {
        return fail(err, cap, "out of memory encoding %zu bytes", n);
    }
    int32_t *out = static_cast<int32_t *>(std::malloc(all.size() ? all.size() * sizeof *out : 1));
    if (!out) return fail(err, cap, "out of memory for %zu tokens", all.size());
    if (!all.empty()) std::memcpy(out, all.data(), all.size() * sizeof *out);
    *ids = out, *count = all.size();
    return 0;
}

// The bytes token id stands for: a byte token its byte, a control token
// nothing, <unk> SentencePiece's mark for it, any other its piece with
// U+2581 as a space.
static bool piece_text(const dy_sp *t, int id, std::string *s)
{
    s->clear();
    if (id < 0 || id >= t->sp.GetPieceSize() || t->sp.IsControl(id)) return id >= 0 && id < t->sp.GetPieceSize();
    const std::string &piece = t->sp.IdToPiece(id);
    if (t->sp.IsByte(id)) { // "<0xAB>"
        unsigned v = 0;
        if (std::sscanf(piece.c_str(), "<0x%2X>", &v) != 1) return false;
        *s += (char)v;
        return true;
    }
    if (t->sp.IsUnknown(id)) return t->sp.Decode(std::vector<int>{id}, s).ok();
    for (size_t i = 0; i < piece.size(); i++) {
        if (piece.compare(i, 3, "\xE2\x96\x81") == 0) *s += ' ', i += 2;
        else *s += piece[i];
    }
    return true;
}

extern "C" int dy_sp_piece(const dy_sp *t, int32_t id, char *buf, size_t cap, size_t *len)
{
    std::string s;
    *len = 0;
    try {
        if (!piece_text(t, id, &s)) return -1;
    } catch (const std::bad_alloc &) {
        return -1;
    }
    size_t k = s.size() < cap ? s.size() : cap;
    std::memcpy(buf, s.data(), k);
    *len = s.size();
    return 0;
}

extern "C" int dy_sp_special(const dy_sp *t, int which)
{
    int id = which == 0 ? t->sp.bos_id() : which == 1 ? t->sp.eos_id() : t->sp.unk_id();
    return id >= 0 && id < t->sp.GetPieceSize() ? id : -1;
}
