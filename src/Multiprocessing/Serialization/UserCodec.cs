using Multiprocessing.Payload;

namespace Multiprocessing.Serialization;

/// <summary>Values of a type that the user's <see cref="IWorkerSerializer"/> took, length-prefixed.</summary>
internal sealed class UserCodec<T>(IWorkerSerializer serializer) : Codec<T>
{
    public override void Write(PayloadWriter writer, T value)
    {
        int lengthAt = writer.ReserveInt32();
        int start = writer.Position;
        serializer.Serialize(writer, value);
        writer.PatchInt32(lengthAt, writer.Position - start);
    }

    public override T Read(ref PayloadReader reader)
    {
        int length = reader.Read<int>();
        return serializer.Deserialize<T>(reader.ReadBytes(length));
    }
}
