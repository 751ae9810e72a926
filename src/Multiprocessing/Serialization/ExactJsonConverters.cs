using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Multiprocessing.Serialization;

// System.Text.Json is the wire format between our own processes, not a document anyone reads, so
// these converters trade readability for exactness wherever its defaults lose data without a word.

/// <summary>
/// BigInteger has no System.Text.Json converter: by default it is written as its public flags
/// (<c>{"IsZero":false,…}</c>) and read back as 0. It travels as its decimal digits instead.
/// </summary>
internal sealed class BigIntegerJsonConverter : JsonConverter<BigInteger>
{
    public override BigInteger Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        BigInteger.Parse(reader.GetString()!, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);

    public override void Write(Utf8JsonWriter writer, BigInteger value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.ToString(CultureInfo.InvariantCulture));

    public override BigInteger ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => Read(ref reader, typeToConvert, options);

    public override void WriteAsPropertyName(Utf8JsonWriter writer, BigInteger value, JsonSerializerOptions options) =>
        writer.WritePropertyName(value.ToString(CultureInfo.InvariantCulture));
}

/// <summary>
/// Strings inside JSON: System.Text.Json replaces a lone surrogate with U+FFFD when it writes, so
/// such a string arrives changed. Valid text goes as a JSON string; text with a lone surrogate goes
/// as an array of its UTF-16 code units, which the reader tells apart by the token.
/// </summary>
internal sealed class ExactStringJsonConverter : JsonConverter<string>
{
    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            return reader.GetString();
        }
        var units = new List<char>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            units.Add((char)reader.GetUInt16());
        }
        return new string(CollectionsMarshal.AsSpan(units));
    }

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options)
    {
        if (IsValidUtf16(value))
        {
            writer.WriteStringValue(value);
            return;
        }
        writer.WriteStartArray();
        foreach (char unit in value)
        {
            writer.WriteNumberValue(unit);
        }
        writer.WriteEndArray();
    }

    public override string ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.GetString()!;

    public override void WriteAsPropertyName(Utf8JsonWriter writer, string value, JsonSerializerOptions options) =>
        writer.WritePropertyName(IsValidUtf16(value)
            ? value
            : throw new SerializationException("A dictionary key holds a lone UTF-16 surrogate, which JSON cannot carry as a key. Use a key type other than string, or register an IWorkerSerializer."));

    /// <summary>Whether every surrogate in <paramref name="text"/> is part of a pair (a vectorised scan first: most text has none).</summary>
    internal static bool IsValidUtf16(ReadOnlySpan<char> text)
    {
        int i = text.IndexOfAnyInRange('\uD800', '\uDFFF');
        if (i < 0)
        {
            return true;
        }
        for (; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return false;
            }
        }
        return true;
    }
}

/// <summary>A char inside JSON travels as its code unit: a lone surrogate written as text would arrive as U+FFFD.</summary>
internal sealed class ExactCharJsonConverter : JsonConverter<char>
{
    public override char Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => (char)reader.GetUInt16();

    public override void Write(Utf8JsonWriter writer, char value, JsonSerializerOptions options) => writer.WriteNumberValue(value);

    public override char ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        (char)ushort.Parse(reader.GetString()!, NumberStyles.None, CultureInfo.InvariantCulture);

    public override void WriteAsPropertyName(Utf8JsonWriter writer, char value, JsonSerializerOptions options) =>
        writer.WritePropertyName(((ushort)value).ToString(CultureInfo.InvariantCulture));
}

/// <summary>
/// Structs that hold no references travel byte for byte inside JSON too (base64), as they do on
/// their own: System.Text.Json would see only their public members, and a struct that keeps its
/// state in private fields (<see cref="Index"/>, <see cref="Range"/>, most user structs with a
/// constructor) would be rebuilt wrong. A type with its own <see cref="JsonConverterAttribute"/> keeps it.
/// </summary>
internal sealed class RawStructJsonConverterFactory : JsonConverterFactory
{
    public override bool CanConvert(Type typeToConvert) =>
        typeToConvert.IsValueType && !typeToConvert.IsPrimitive && !typeToConvert.IsEnum
        && Nullable.GetUnderlyingType(typeToConvert) is null
        && !typeToConvert.IsDefined(typeof(JsonConverterAttribute), inherit: false)
        && CodecProvider.WhyUnsupported(typeToConvert) is null
        && !CodecProvider.HoldsReferences(typeToConvert);

    public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
        (JsonConverter)Activator.CreateInstance(typeof(Converter<>).MakeGenericType(typeToConvert))!;

    private sealed class Converter<T> : JsonConverter<T> where T : struct
    {
        public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => FromBytes(reader.GetBytesFromBase64());

        public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) =>
            writer.WriteBase64StringValue(MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)));

        public override T ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            FromBytes(Convert.FromBase64String(reader.GetString()!));

        public override void WriteAsPropertyName(Utf8JsonWriter writer, T value, JsonSerializerOptions options) =>
            writer.WritePropertyName(Convert.ToBase64String(MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value))));

        private static T FromBytes(byte[] bytes) =>
            bytes.Length == Unsafe.SizeOf<T>()
                ? MemoryMarshal.Read<T>(bytes)
                : throw new JsonException($"A {TypeNames.Display(typeof(T))} takes {Unsafe.SizeOf<T>()} bytes; the message holds {bytes.Length}.");
    }
}
