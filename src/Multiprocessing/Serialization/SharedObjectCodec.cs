using System.Text.Json;
using System.Text.Json.Serialization;
using Multiprocessing.Payload;
using Multiprocessing.Sharing;

namespace Multiprocessing.Serialization;

/// <summary>
/// Shared objects travel as descriptors: the receiving process attaches to the same memory (once
/// per process, see <see cref="SegmentAttachments"/>) instead of receiving a copy.
/// </summary>
internal sealed class SharedObjectCodec<T> : Codec<T?> where T : SharedObject, ISharedObjectFactory<T>
{
    public override void Write(PayloadWriter writer, T? value)
    {
        if (value is null)
        {
            writer.Write((byte)0);
            return;
        }
        writer.Write((byte)1);
        value.WriteDescriptor(writer);
    }

    public override T? Read(ref PayloadReader reader)
    {
        byte present = reader.Read<byte>();
        if (present == 0)
        {
            return null;
        }
        SegmentDescriptor descriptor = SegmentDescriptor.Read(ref reader);
        SharedSegment segment = SegmentAttachments.Attach(descriptor, $"the {TypeNames.Display(typeof(T))} passed to this process");
        return T.Attach(segment, readOnly: !descriptor.Writable, ref reader);
    }
}

/// <summary>Lets shared objects sit inside records and classes that travel as JSON: the descriptor goes as a base64 string.</summary>
internal sealed class SharedObjectJsonConverterFactory : JsonConverterFactory
{
    public override bool CanConvert(Type typeToConvert) => CodecProvider.IsSharedObject(typeToConvert);

    public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
        (JsonConverter)Activator.CreateInstance(typeof(Converter<>).MakeGenericType(typeToConvert))!;

    private sealed class Converter<T> : JsonConverter<T> where T : SharedObject, ISharedObjectFactory<T>
    {
        private readonly SharedObjectCodec<T> _codec = new();

        public override T? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            byte[] bytes = reader.GetBytesFromBase64();
            var payload = new PayloadReader(bytes);
            return _codec.Read(ref payload);
        }

        public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options)
        {
            var payload = new PayloadWriter(64);
            _codec.Write(payload, value);
            writer.WriteBase64StringValue(payload.WrittenSpan);
        }
    }
}
